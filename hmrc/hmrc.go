// Package hmrc is the transport to HMRC, and the only package that sees
// plaintext HMRC tokens. It runs the authorisation-code flow with
// golang.org/x/oauth2, keeps each connection's token pair sealed in the
// store, refreshes it under a lease so that HMRC's single-use refresh tokens
// are never raced or lost, spends the application's shared rate budget
// through one limiter, and makes any API call with Client.Do: with a
// landlord's token or the application's own, the fraud prevention headers,
// retries, and HMRC's errors as *APIError (or its raw answer, for a proxy).
//
// The typed MTD APIs live on top of Do: hmrc/itsa (Income Tax), hmrc/vat,
// hmrc/sandbox (HMRC's test-support APIs); hmrc/fraud builds the fraud
// prevention headers.
package hmrc

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/oauth2"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrc/fraud"
	"github.com/mtdconnect/mtdconnect/seal"
)

// HMRC's hosts, from its developer hub.
const (
	SandboxAuthorizeURL    = "https://test-www.tax.service.gov.uk/oauth/authorize"
	SandboxTokenURL        = "https://test-api.service.hmrc.gov.uk/oauth/token"
	SandboxAPIURL          = "https://test-api.service.hmrc.gov.uk"
	ProductionAuthorizeURL = "https://www.tax.service.gov.uk/oauth/authorize"
	ProductionTokenURL     = "https://api.service.hmrc.gov.uk/oauth/token"
	ProductionAPIURL       = "https://api.service.hmrc.gov.uk"
	// ProductionManageAuthorityURL is where a landlord removes an
	// application's authority; HMRC has no revocation endpoint for apps.
	ProductionManageAuthorityURL = "https://www.tax.service.gov.uk/applications-manage-authority"
	// OOBRedirectURI is the desktop-style redirect: HMRC shows the code
	// for the user to paste into the application.
	OOBRedirectURI = "urn:ietf:wg:oauth:2.0:oob"
)

// Config configures a Client. Zero durations take the defaults noted.
type Config struct {
	ClientID     string
	ClientSecret string
	AuthorizeURL string
	TokenURL     string
	APIURL       string
	RedirectURL  string // the web callback: PUBLIC_URL + /oauth/hmrc/callback
	Environment  string // simulator, sandbox or production; recorded on each connection
	// CredentialsFromStore says ClientID and ClientSecret are those of the
	// application stored for Environment (see Applications): the client
	// re-reads it every CredentialsRefresh (default 1 minute) and on
	// ReloadCredentials, so a rotated secret or a new client ID is used
	// without a restart. False when they come from environment variables
	// or are the simulator's.
	CredentialsFromStore bool
	CredentialsRefresh   time.Duration

	Store      mtdconnect.Store
	Sealer     *seal.Sealer
	HTTPClient *http.Client // nil: a client with RequestTimeout
	Logger     *slog.Logger
	Now        func() time.Time

	// Vendor is this software in the fraud prevention headers: product
	// name, version, licences and the public IP it is reached on.
	// ProductName defaults to "mtdconnect", Version to mtdconnect.Version.
	Vendor fraud.Vendor
	// DeviceID is this server's own persistent UUID, its
	// Gov-Client-Device-ID when it is the originating device
	// (BATCH_PROCESS_DIRECT, see BatchOrigin). Generate it once and keep it
	// (cmd stores it in the data directory); it must not change between runs.
	DeviceID string
	// DeviceManufacturer and DeviceModel describe this server in
	// Gov-Client-User-Agent when the host cannot say (a VM without DMI
	// data); the host's own values win when it can.
	DeviceManufacturer, DeviceModel string

	// Rate is HMRC's budget for the whole application, requests/second,
	// shared by every instance through the store. Default 3.
	Rate float64
	// InteractiveWait is the longest a landlord's call queues for the
	// rate budget; when the budget is booked further ahead, the call is
	// refused at once with a *BusyError (nothing sent). Scheduled work is
	// not bound by it. Default DefaultInteractiveWait (3s).
	InteractiveWait time.Duration
	// RefreshMargin: a token this close to expiry is refreshed before use.
	// Default 5 minutes.
	RefreshMargin time.Duration
	// LeaseDuration bounds a refresh in flight; a lease older than this
	// means its holder died. Default 60s; it must exceed RequestTimeout by
	// far, so a live holder never loses its lease.
	LeaseDuration time.Duration
	// RequestTimeout bounds one HTTP exchange with HMRC. Default 20s.
	RequestTimeout time.Duration
	// MaxAttempts bounds retries of a call HMRC failed transiently. Default 4.
	MaxAttempts int
	// RetryBase is the first backoff; it doubles, with jitter. Default 250ms.
	RetryBase time.Duration

	// Registerer receives the client's Prometheus metrics (see
	// metrics.go); nil: none.
	Registerer prometheus.Registerer
}

// Client talks to HMRC for every user. It is safe for concurrent use.
type Client struct {
	cfg     Config
	oauth   oauth2.Config
	http    *http.Client
	log     *slog.Logger
	now     func() time.Time
	store   mtdconnect.Store
	sealer  *seal.Sealer
	limiter *Limiter
	owner   string // this process, as written in refresh leases
	creds   *credentialSource

	mu    sync.Mutex
	locks map[connKey]*connLock // one in-process refresher per connection

	refreshing *inFlight // leased refreshes, for Drain

	// deprecated holds the APIs whose Deprecation header was logged, so
	// each is logged once per process (the metric counts every answer).
	deprecated sync.Map

	metrics *metrics // nil: no Config.Registerer

	events atomic.Pointer[ConnectionEvents] // OnConnectionChange
}

type connKey struct {
	user    int64
	purpose mtdconnect.Purpose
}

// New returns a Client. It makes no request.
func New(cfg Config) (*Client, error) {
	if cfg.ClientID == "" || cfg.ClientSecret == "" {
		return nil, errors.New("hmrc: client ID and client secret are required")
	}
	if cfg.AuthorizeURL == "" || cfg.TokenURL == "" || cfg.APIURL == "" {
		return nil, errors.New("hmrc: authorize, token and API URLs are required")
	}
	if cfg.Store == nil || cfg.Sealer == nil {
		return nil, errors.New("hmrc: store and sealer are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Vendor.ProductName == "" {
		cfg.Vendor.ProductName = "mtdconnect"
	}
	if cfg.Vendor.Version == "" {
		cfg.Vendor.Version = mtdconnect.Version
	}
	if cfg.Rate <= 0 {
		cfg.Rate = 3
	}
	setDefault(&cfg.InteractiveWait, DefaultInteractiveWait)
	setDefault(&cfg.RefreshMargin, 5*time.Minute)
	setDefault(&cfg.LeaseDuration, 60*time.Second)
	setDefault(&cfg.RequestTimeout, 20*time.Second)
	setDefault(&cfg.RetryBase, 250*time.Millisecond)
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 4
	}
	if cfg.LeaseDuration < 2*cfg.RequestTimeout {
		return nil, fmt.Errorf("hmrc: lease %v must be at least twice the request timeout %v", cfg.LeaseDuration, cfg.RequestTimeout)
	}
	if err := checkEndpoints(cfg); err != nil {
		return nil, err
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	if m != nil {
		cfg.Store = countedStore{Store: cfg.Store, m: m}
	}
	hc := &http.Client{Timeout: cfg.RequestTimeout}
	if cfg.HTTPClient != nil {
		copied := *cfg.HTTPClient
		hc = &copied
	}
	// A redirect from HMRC is never followed: the token request carries
	// the client secret, the code and its verifier or the refresh token,
	// an API request the access token, and a redirect would hand them to
	// the host it names.
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return errRedirect }
	host, _ := os.Hostname()
	c := &Client{
		cfg: cfg,
		// The client ID and secret are set per use from creds, which
		// follows a rotation (oauthConfig).
		oauth: oauth2.Config{
			RedirectURL: cfg.RedirectURL,
			// HMRC wants client_id and client_secret in the form body;
			// autodetection would waste a request of the rate budget.
			Endpoint: oauth2.Endpoint{AuthURL: cfg.AuthorizeURL, TokenURL: cfg.TokenURL, AuthStyle: oauth2.AuthStyleInParams},
		},
		http:   hc,
		log:    cfg.Logger,
		now:    cfg.Now,
		store:  cfg.Store,
		sealer: cfg.Sealer,
		owner:  fmt.Sprintf("%s/%d/%s", host, os.Getpid(), randomHex(4)),
		locks:  make(map[connKey]*connLock),
		creds:  newCredentialSource(cfg),

		refreshing: newInFlight(),
	}
	// One budget per environment: a deployment calls one application there,
	// and keying by client ID would split the budget while instances
	// disagree about a client ID just changed.
	c.limiter = NewLimiter(cfg.Store, "hmrc:"+cfg.Environment, cfg.Rate)
	c.limiter.interactiveWait = cfg.InteractiveWait
	c.metrics, c.limiter.metrics = m, m
	return c, nil
}

// errRedirect is what a call answered with a redirect fails with.
var errRedirect = errors.New("HMRC answered with a redirect, which is never followed")

// checkEndpoints refuses HMRC endpoints that would send tokens and the
// client secret in the clear: sandbox and production are reached over
// https, except on this machine (a local TLS-terminating proxy, or a test).
// The simulator may be plain http anywhere: it is not HMRC.
func checkEndpoints(cfg Config) error {
	if cfg.Environment == EnvSimulator {
		return nil
	}
	for _, ep := range []struct{ name, url string }{
		{"authorize", cfg.AuthorizeURL}, {"token", cfg.TokenURL}, {"API", cfg.APIURL},
	} {
		u, err := url.Parse(ep.url)
		if err != nil || u.Host == "" {
			return fmt.Errorf("hmrc: the %s URL %q is not an absolute URL", ep.name, ep.url)
		}
		if u.Scheme == "https" || (u.Scheme == "http" && isLoopback(u.Hostname())) {
			continue
		}
		return fmt.Errorf("hmrc: the %s URL %q must be https in the %s environment (plain http only for the simulator or a host on this machine)",
			ep.name, ep.url, cfg.Environment)
	}
	return nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

func setDefault(d *time.Duration, v time.Duration) {
	if *d <= 0 {
		*d = v
	}
}

// connLock serialises this process's refreshes of one connection. refs
// counts the goroutines holding it or waiting for it, so the entry is
// dropped when no one needs it and the map holds only connections in use.
type connLock struct {
	sync.Mutex
	refs int // guarded by Client.mu
}

// lockConn returns the connection's lock, counted as needed until
// unlockConn; the caller then locks it.
func (c *Client) lockConn(k connKey) *connLock {
	c.mu.Lock()
	defer c.mu.Unlock()
	l, ok := c.locks[k]
	if !ok {
		l = new(connLock)
		c.locks[k] = l
	}
	l.refs++
	return l
}

// unlockConn unlocks l, taken with lockConn(k), and drops it when no one
// else holds or waits for it.
func (c *Client) unlockConn(k connKey, l *connLock) {
	l.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	if l.refs--; l.refs == 0 {
		delete(c.locks, k)
	}
}

// Now is the client's clock (Config.Now), which the API packages on top of
// it share.
func (c *Client) Now() time.Time { return c.now() }

// Environment is where the client calls HMRC: EnvSimulator, EnvSandbox or
// EnvProduction.
func (c *Client) Environment() string { return c.cfg.Environment }

// BatchOrigin describes this server, as configured (DeviceID, Vendor,
// DeviceManufacturer, DeviceModel), as the origin of a call no user
// initiated, for the landlord userIDs names (see fraud.Batch.Origin). Call
// it for each HMRC call: it reads the host afresh.
func (c *Client) BatchOrigin(userIDs map[string]string) (*fraud.Origin, error) {
	return fraud.Batch{
		DeviceID: c.cfg.DeviceID, Vendor: c.cfg.Vendor,
		DeviceManufacturer: c.cfg.DeviceManufacturer, DeviceModel: c.cfg.DeviceModel,
	}.Origin(userIDs)
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func tokensAD(userID int64, p mtdconnect.Purpose) []byte {
	return seal.AD("connection", fmt.Sprint(userID), string(p), "tokens")
}

func verifierAD(state string) []byte { return seal.AD("pending", state, "verifier") }

func scopeString(p mtdconnect.Purpose) string { return strings.Join(p.Scopes(), " ") }
