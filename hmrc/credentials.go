package hmrc

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/seal"
)

// This file holds the HMRC application the service calls HMRC as: its
// client ID and client secrets, stored per environment with the secrets
// sealed (Applications), the administrator's one-time consent to call
// HMRC's external web services, and how a running Client follows a change
// of either without a restart.

// The environments an application can be stored for. The simulator has a
// built-in demo application and is not HMRC, so it has neither a stored
// application nor a consent.
const (
	EnvSimulator  = "simulator"
	EnvSandbox    = "sandbox"
	EnvProduction = "production"
)

// HMRC's limits on an application, from its Developer Hub.
const (
	MaxClientSecrets = 5
	MaxRedirectURIs  = 5
)

// minSecretLength guards against a truncated or wrong file: HMRC's client
// secrets are UUIDs (36 characters).
const minSecretLength = 16

// defaultCredentialsRefresh is how often a client re-reads the stored
// application, so every instance of a deployment follows a rotation.
const defaultCredentialsRefresh = time.Minute

var (
	// ErrNotConfirmed means no administrator has yet allowed the service to
	// call HMRC's external web services in this environment, so no
	// connection may be made.
	ErrNotConfirmed = errors.New("hmrc: an administrator must first allow this service to call HMRC's external web services")
	// ErrNoApplication means no HMRC application is stored for the
	// environment.
	ErrNoApplication = errors.New("hmrc: no HMRC application is stored for this environment")
)

// ApplicationError is input about the application that cannot be stored.
// Message is in words an administrator reads; nothing was changed.
type ApplicationError struct{ Message string }

func (e *ApplicationError) Error() string { return "hmrc: application: " + e.Message }

func invalid(format string, args ...any) error {
	return &ApplicationError{Message: fmt.Sprintf(format, args...)}
}

// ConsentName is the name of the confirmation that lets the service call
// HMRC's external web services in env.
func ConsentName(env string) string { return "hmrc-external-services:" + env }

// Applications keeps the HMRC application of each environment in the
// store, its client secrets sealed. The command line, the admin page and
// the Client share it. Only this package opens a secret.
type Applications struct {
	store  mtdconnect.Store
	sealer *seal.Sealer
	now    func() time.Time
}

// NewApplications returns the stored applications. now nil means time.Now.
func NewApplications(store mtdconnect.Store, sealer *seal.Sealer, now func() time.Time) *Applications {
	if now == nil {
		now = time.Now
	}
	return &Applications{store: store, sealer: sealer, now: now}
}

// secretAD binds a sealed secret to its environment, application and
// secret ID: a secret copied to another row, or kept after the client ID
// changed, does not open.
func secretAD(env, clientID, secretID string) []byte {
	return seal.AD("application", env, clientID, "secret", secretID)
}

func checkEnv(env string) error {
	switch env {
	case EnvSandbox, EnvProduction:
		return nil
	case EnvSimulator:
		return invalid("the simulator has its built-in demo application; applications are stored for sandbox or production")
	}
	return invalid("the environment must be sandbox or production, not %q", env)
}

// Get returns the application stored for env, or ErrNoApplication.
func (a *Applications) Get(ctx context.Context, env string) (*mtdconnect.Application, error) {
	if err := checkEnv(env); err != nil {
		return nil, err
	}
	app, err := a.store.Application(ctx, env)
	if errors.Is(err, mtdconnect.ErrNotFound) {
		return nil, fmt.Errorf("%w (%s)", ErrNoApplication, env)
	}
	if err != nil {
		return nil, fmt.Errorf("hmrc: read %s application: %w", env, err)
	}
	return app, nil
}

// Set stores the application of env. With a client ID other than the
// stored one (or none stored) it starts afresh: secret is required and the
// old secrets go, since they belong to the other application; connections
// made through it will need reconnecting. With the stored client ID, a
// non-empty secret is added as the newest and the others are kept.
// redirectURIs nil keeps the stored ones; non-nil replaces them.
func (a *Applications) Set(ctx context.Context, env, clientID, secret string, redirectURIs []string, by int64) (*mtdconnect.Application, error) {
	if err := checkEnv(env); err != nil {
		return nil, err
	}
	clientID = strings.TrimSpace(clientID)
	if err := checkClientID(clientID); err != nil {
		return nil, err
	}
	secret = strings.TrimSpace(secret)
	if secret != "" {
		if err := checkSecret(secret); err != nil {
			return nil, err
		}
	}
	var uris []string
	if redirectURIs != nil {
		var err error
		if uris, err = checkRedirectURIs(redirectURIs); err != nil {
			return nil, err
		}
	}
	old, err := a.store.Application(ctx, env)
	if err != nil && !errors.Is(err, mtdconnect.ErrNotFound) {
		return nil, fmt.Errorf("hmrc: read %s application: %w", env, err)
	}
	var app mtdconnect.Application
	if old != nil && old.ClientID == clientID {
		if secret == "" && redirectURIs == nil {
			return nil, invalid("nothing to change: give a new client secret or the redirect URIs")
		}
		app = *old
	} else {
		if secret == "" {
			return nil, invalid("a new client ID needs its client secret")
		}
		app = mtdconnect.Application{Environment: env, ClientID: clientID}
	}
	if redirectURIs != nil {
		app.RedirectURIs = uris
	}
	if secret != "" {
		if err := a.addSecret(&app, secret); err != nil {
			return nil, err
		}
	}
	return &app, a.save(ctx, &app, by)
}

// AddSecret adds secret to the stored application of env as the newest,
// the one used from now on. The older ones stay until removed: HMRC allows
// several per application, so a rotation disconnects no one, and removing
// the new one goes back to the previous.
func (a *Applications) AddSecret(ctx context.Context, env, secret string, by int64) (*mtdconnect.Application, error) {
	secret = strings.TrimSpace(secret)
	if err := checkSecret(secret); err != nil {
		return nil, err
	}
	app, err := a.Get(ctx, env)
	if err != nil {
		return nil, err
	}
	if err := a.addSecret(app, secret); err != nil {
		return nil, err
	}
	return app, a.save(ctx, app, by)
}

func (a *Applications) addSecret(app *mtdconnect.Application, secret string) error {
	if len(app.Secrets) >= MaxClientSecrets {
		return invalid("HMRC allows at most %d client secrets per application: remove an older one first", MaxClientSecrets)
	}
	for _, s := range app.Secrets {
		if open, err := a.open(app, s); err == nil && open == secret {
			return invalid("this client secret is already stored (…%s)", s.Last4)
		}
	}
	b := make([]byte, 8)
	rand.Read(b)
	s := mtdconnect.ClientSecret{ID: hex.EncodeToString(b), Last4: secret[len(secret)-4:], AddedAt: a.now().UTC()}
	sealed, err := a.sealer.Seal([]byte(secret), secretAD(app.Environment, app.ClientID, s.ID))
	if err != nil {
		return fmt.Errorf("hmrc: seal client secret: %w", err)
	}
	s.Sealed = sealed
	app.Secrets = append([]mtdconnect.ClientSecret{s}, app.Secrets...)
	return nil
}

// RemoveSecret removes the secret of env's application named by ref, its
// ID or its last 4 characters. The only secret cannot be removed: the
// service would have none to call HMRC with.
func (a *Applications) RemoveSecret(ctx context.Context, env, ref string, by int64) (*mtdconnect.Application, error) {
	ref = strings.TrimSpace(ref)
	if ref == "" {
		return nil, invalid("say which secret to remove: its last 4 characters or its ID")
	}
	app, err := a.Get(ctx, env)
	if err != nil {
		return nil, err
	}
	var match []int
	for i, s := range app.Secrets {
		if s.ID == ref || s.Last4 == ref {
			match = append(match, i)
		}
	}
	switch {
	case len(match) == 0:
		return nil, invalid("the %s application has no client secret ending in or named %q", env, ref)
	case len(match) > 1:
		return nil, invalid("several client secrets end in %q: name the one to remove by its ID", ref)
	case len(app.Secrets) == 1:
		return nil, invalid("the only client secret cannot be removed: add its replacement first")
	}
	app.Secrets = append(app.Secrets[:match[0]:match[0]], app.Secrets[match[0]+1:]...)
	return app, a.save(ctx, app, by)
}

func (a *Applications) save(ctx context.Context, app *mtdconnect.Application, by int64) error {
	app.UpdatedAt = a.now().UTC()
	app.UpdatedBy = by
	if err := a.store.SaveApplication(ctx, app); err != nil {
		return fmt.Errorf("hmrc: save %s application: %w", app.Environment, err)
	}
	return nil
}

func (a *Applications) open(app *mtdconnect.Application, s mtdconnect.ClientSecret) (string, error) {
	b, err := a.sealer.Open(s.Sealed, secretAD(app.Environment, app.ClientID, s.ID))
	if err != nil {
		return "", fmt.Errorf("hmrc: open client secret …%s of the %s application: %w", s.Last4, app.Environment, err)
	}
	return string(b), nil
}

// Credentials returns the client ID of env's stored application and its
// newest secret, opened.
func (a *Applications) Credentials(ctx context.Context, env string) (clientID, secret string, err error) {
	app, err := a.Get(ctx, env)
	if err != nil {
		return "", "", err
	}
	if len(app.Secrets) == 0 {
		return "", "", fmt.Errorf("%w: the %s application has no client secret", ErrNoApplication, env)
	}
	secret, err = a.open(app, app.Secrets[0])
	if err != nil {
		return "", "", err
	}
	return app.ClientID, secret, nil
}

// Confirm records that the administrator userID (0: the command line)
// allows the service to call HMRC's external web services in env. The
// first confirmation stands; it is returned either way.
func (a *Applications) Confirm(ctx context.Context, env string, userID int64) (*mtdconnect.Confirmation, error) {
	if err := checkEnv(env); err != nil {
		return nil, err
	}
	c, err := a.store.Confirm(ctx, &mtdconnect.Confirmation{Name: ConsentName(env), UserID: userID, At: a.now().UTC()})
	if err != nil {
		return nil, fmt.Errorf("hmrc: record consent for %s: %w", env, err)
	}
	return c, nil
}

// Confirmation returns env's consent, or mtdconnect.ErrNotFound.
func (a *Applications) Confirmation(ctx context.Context, env string) (*mtdconnect.Confirmation, error) {
	if err := checkEnv(env); err != nil {
		return nil, err
	}
	return a.store.Confirmation(ctx, ConsentName(env))
}

func checkClientID(id string) error {
	if id == "" {
		return invalid("the client ID is required")
	}
	if len(id) > 128 {
		return invalid("the client ID is too long (%d characters, at most 128)", len(id))
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return invalid("the client ID may hold only letters, digits, '-', '_' and '.': copy it from HMRC's Developer Hub")
		}
	}
	return nil
}

func checkSecret(s string) error {
	if s == "" {
		return invalid("the client secret is empty")
	}
	if len(s) < minSecretLength {
		return invalid("the client secret is too short (%d characters, at least %d): check it is the whole secret HMRC's Developer Hub showed", len(s), minSecretLength)
	}
	if len(s) > 256 {
		return invalid("the client secret is too long (%d characters, at most 256)", len(s))
	}
	for _, r := range s {
		if r <= ' ' || r > '~' {
			return invalid("the client secret may not contain spaces, line breaks or other special characters: check it is the secret alone")
		}
	}
	return nil
}

// checkRedirectURIs applies HMRC's rules for registered redirect URIs:
// https (http only for localhost), or the out-of-band URNs; absolute; no
// fragment; no IP address as host; at most five. Empty lines are dropped.
func checkRedirectURIs(in []string) ([]string, error) {
	out := []string{}
	seen := map[string]bool{}
	for _, raw := range in {
		s := strings.TrimSpace(raw)
		if s == "" || seen[s] {
			continue
		}
		seen[s] = true
		if s == OOBRedirectURI || s == OOBRedirectURI+":auto" {
			out = append(out, s)
			continue
		}
		u, err := url.Parse(s)
		switch {
		case err != nil || u.Host == "" || !u.IsAbs():
			return nil, invalid("redirect URI %q is not an absolute URL", s)
		case u.Fragment != "" || strings.Contains(s, "#"):
			return nil, invalid("redirect URI %q has a #fragment, which HMRC does not allow", s)
		case u.Scheme == "http" && u.Hostname() != "localhost":
			return nil, invalid("redirect URI %q uses plain http: HMRC allows it only for http://localhost", s)
		case u.Scheme != "http" && u.Scheme != "https":
			return nil, invalid("redirect URI %q must use https", s)
		case net.ParseIP(u.Hostname()) != nil:
			return nil, invalid("redirect URI %q has an IP address as host, which HMRC does not allow", s)
		}
		out = append(out, s)
	}
	if len(out) > MaxRedirectURIs {
		return nil, invalid("HMRC allows at most %d redirect URIs per application, not %d", MaxRedirectURIs, len(out))
	}
	return out, nil
}

// credentials are the client ID and secret a client uses, as of loadedAt.
type credentials struct {
	clientID, secret string
	secretID         string // the stored secret's ID; empty when not stored
	loadedAt         time.Time
}

// String keeps the secret out of any log or error that prints credentials.
func (c credentials) String() string { return "client " + c.clientID }

// credentialSource is where a Client takes its credentials from: fixed
// ones (environment variables, the simulator's), or the stored application
// of its environment, re-read every refresh interval and on demand.
type credentialSource struct {
	apps      *Applications
	env       string
	fromStore bool
	every     time.Duration
	now       func() time.Time
	log       *slog.Logger

	mu        sync.Mutex
	cur       credentials
	reloading sync.Mutex // one reload at a time; others use what is cached
	consented atomic.Bool
}

func newCredentialSource(cfg Config) *credentialSource {
	every := cfg.CredentialsRefresh
	if every <= 0 {
		every = defaultCredentialsRefresh
	}
	return &credentialSource{
		apps: NewApplications(cfg.Store, cfg.Sealer, cfg.Now),
		env:  cfg.Environment, fromStore: cfg.CredentialsFromStore, every: every,
		now: cfg.Now, log: cfg.Logger,
		cur: credentials{clientID: cfg.ClientID, secret: cfg.ClientSecret, loadedAt: cfg.Now()},
	}
}

// current returns the credentials to use now, re-reading the stored
// application when the cached copy is older than the refresh interval. A
// failed re-read keeps the cached credentials (and is retried after the
// interval): a database hiccup must not stop every call to HMRC.
func (s *credentialSource) current(ctx context.Context) credentials {
	s.mu.Lock()
	cur := s.cur
	s.mu.Unlock()
	if !s.fromStore || s.now().Sub(cur.loadedAt) < s.every {
		return cur
	}
	if !s.reloading.TryLock() {
		return cur // another goroutine is re-reading it
	}
	defer s.reloading.Unlock()
	next, err := s.load(ctx)
	if err != nil {
		s.log.Warn("hmrc re-read stored application; keeping the credentials in use", "environment", s.env, "err", err)
		s.mu.Lock()
		s.cur.loadedAt = s.now()
		cur = s.cur
		s.mu.Unlock()
		return cur
	}
	return next
}

// reload re-reads the stored application now.
func (s *credentialSource) reload(ctx context.Context) (credentials, error) {
	if !s.fromStore {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.cur, nil
	}
	s.reloading.Lock()
	defer s.reloading.Unlock()
	return s.load(ctx)
}

// load reads the stored application; the caller holds reloading.
func (s *credentialSource) load(ctx context.Context) (credentials, error) {
	app, err := s.apps.Get(ctx, s.env)
	if err != nil {
		return credentials{}, err
	}
	if len(app.Secrets) == 0 {
		return credentials{}, fmt.Errorf("%w: the %s application has no client secret", ErrNoApplication, s.env)
	}
	secret, err := s.apps.open(app, app.Secrets[0])
	if err != nil {
		return credentials{}, err
	}
	next := credentials{clientID: app.ClientID, secret: secret, secretID: app.Secrets[0].ID, loadedAt: s.now()}
	s.mu.Lock()
	prev := s.cur
	s.cur = next
	s.mu.Unlock()
	switch {
	case prev.clientID != next.clientID:
		s.log.Warn("hmrc application changed: connections made through the previous client ID need reconnecting",
			"environment", s.env, "client_id", next.clientID, "previous_client_id", prev.clientID)
	case prev.secret != next.secret:
		s.log.Info("hmrc client secret changed; using the newest", "environment", s.env, "secret_id", next.secretID, "last4", app.Secrets[0].Last4)
	}
	return next, nil
}

// Identity is the HMRC application a client calls as. It never holds the
// secret.
type Identity struct {
	Environment string
	ClientID    string
	// FromStore is false when the credentials come from environment
	// variables (which override the stored application) or are the
	// simulator's built-in ones.
	FromStore   bool
	RedirectURL string // the web callback, to register at HMRC
}

// Identity returns the application the client calls HMRC as now.
func (c *Client) Identity(ctx context.Context) Identity {
	cr := c.creds.current(ctx)
	return Identity{Environment: c.cfg.Environment, ClientID: cr.clientID, FromStore: c.creds.fromStore, RedirectURL: c.cfg.RedirectURL}
}

// Applications returns the stored applications, over the client's store
// and sealer.
func (c *Client) Applications() *Applications { return c.creds.apps }

// ReloadCredentials re-reads the stored application now, so a change made
// on this instance (the admin page) takes effect at once; the other
// instances of the deployment follow within the refresh interval. It does
// nothing when the credentials do not come from the store.
func (c *Client) ReloadCredentials(ctx context.Context) error {
	_, err := c.creds.reload(ctx)
	return err
}

// oauthConfig is the OAuth configuration with cr's client ID and secret.
func (c *Client) oauthConfig(cr credentials) oauth2.Config {
	conf := c.oauth
	conf.ClientID, conf.ClientSecret = cr.clientID, cr.secret
	return conf
}

// checkApplication makes sure conn's tokens go only to the environment and
// HMRC application that issued them, and returns the OAuth configuration
// to refresh them with (the newest secret of that application).
//
// A connection of another client ID in the same environment is marked as
// needing reconnection: an administrator changed the application, and the
// old grant cannot be used with the new one. A connection of another
// environment is refused but left alone: it means this process is
// configured for another environment than the database serves (say
// MTDCONNECT_HMRC=sandbox against the production database), and such a
// mistake must not destroy the landlords' connections.
func (c *Client) checkApplication(ctx context.Context, conn *mtdconnect.Connection) (oauth2.Config, error) {
	if conn.Environment != c.cfg.Environment {
		return oauth2.Config{}, &ReconnectError{Reason: mtdconnect.ReasonOtherApplication}
	}
	cr := c.creds.current(ctx)
	if conn.ClientID != cr.clientID && c.creds.fromStore {
		// Another instance may have seen the change first, and this
		// connection be of the new application: look again before
		// judging, so a fresh connection is not thrown away.
		var err error
		if cr, err = c.creds.reload(ctx); err != nil {
			return oauth2.Config{}, err
		}
	}
	if conn.ClientID != cr.clientID {
		if conn.Status == mtdconnect.StatusConnected {
			if err := c.markReconnect(ctx, conn, mtdconnect.ReasonOtherApplication); err != nil && !errors.Is(err, mtdconnect.ErrConflict) {
				return oauth2.Config{}, err
			}
		}
		return oauth2.Config{}, &ReconnectError{Reason: mtdconnect.ReasonOtherApplication}
	}
	return c.oauthConfig(cr), nil
}

// requireConsent refuses to start a connection until an administrator has
// allowed the service to call HMRC's external web services. The simulator
// needs no consent: it is not HMRC, and nothing leaves the machine.
func (c *Client) requireConsent(ctx context.Context) error {
	env := c.cfg.Environment
	if env == EnvSimulator || c.creds.consented.Load() {
		return nil
	}
	_, err := c.store.Confirmation(ctx, ConsentName(env))
	if errors.Is(err, mtdconnect.ErrNotFound) {
		return fmt.Errorf("%w in %s (Admin → HMRC application, or: mtdconnect app confirm --env %s)", ErrNotConfirmed, env, env)
	}
	if err != nil {
		return fmt.Errorf("hmrc: read consent: %w", err)
	}
	// A consent is never withdrawn (the store has no way to), so it is
	// read once per process.
	c.creds.consented.Store(true)
	return nil
}
