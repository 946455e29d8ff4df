// Package hmrcsim is a local stand-in for HMRC's Making Tax Digital developer
// platform: the OAuth 2.0 authorisation journey (Government Gateway sign-in
// and grant pages), the token endpoint, Hello World, Create Test User, the
// "manage authorised applications" page, per-application throttling and fault
// injection. It is written from HMRC's published documentation, shares no code
// with the real client, and imports only the standard library, so every test
// and the offline demo exercise the client against HMRC's documented
// behaviour, including the unpleasant parts (single-use rotating refresh
// tokens, concurrent-refresh rejection, 18-month grants, 3 requests/second).
//
// The Income Tax and VAT APIs answer in one of two modes (mode.go): ModeDemo,
// a kind and stateful stand-in for a newcomer's demo, or ModeSandbox, which
// follows HMRC's sandbox test data (canned DEFAULT answers, every documented
// Gov-Test-Scenario, STATEFUL only with a test business made through the
// Self Assessment Test Support API). Both apply HMRC's validators.
//
// The simulator is for local use only: /admin/* (faults, stats, clock) has no
// authentication, so it is served only when Options.Controls asks for it and
// only to same-origin callers, and nothing here is hardened for exposure to a
// network.
package hmrcsim

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Options configures a Server. The zero value gives HMRC's documented limits.
type Options struct {
	// Now is the simulator's clock; nil means time.Now. Token, code and grant
	// lifetimes use it (plus any offset added through /admin/clock). The rate
	// limiter deliberately uses real time, so a frozen test clock does not
	// throttle everything after the third request.
	Now func() time.Time
	// AccessTokenLifetime defaults to HMRC's 4 hours.
	AccessTokenLifetime time.Duration
	// CodeLifetime defaults to HMRC's 10 minutes.
	CodeLifetime time.Duration
	// GrantLifetime gives the moment a grant stops being refreshable; the
	// default is grantedAt + 18 months.
	GrantLifetime func(grantedAt time.Time) time.Time
	// RateLimit is requests/second per application on /oauth/token and the
	// APIs. 0 means HMRC's standard 3; a negative value means unlimited.
	RateLimit float64
	// Logger receives one line per notable event; nil discards.
	Logger *slog.Logger

	// Mode is ModeDemo (the zero value: kind and stateful) or ModeSandbox
	// (HMRC's sandbox test data); see mode.go.
	Mode Mode
	// FulfilmentDelay is how long after a quarterly update, or a final
	// declaration, the demo's obligation shows as fulfilled, on the
	// simulator's clock. HMRC: "it may take up to an hour for the
	// obligation to be marked as fulfilled" (E2E
	// make-updates-during-tax-year). 0 (the default) is that hour
	// (DefaultFulfilmentDelay); a negative value marks it at once. The
	// sandbox's obligations are fixtures that no submission changes.
	FulfilmentDelay time.Duration
	// Controls says whether /admin/* is served (see Controls).
	Controls Controls
}

// Application is a developer application to register. The simulator
// keeps only a hash of its ClientSecret (registeredApp), in memory and in
// its state file: the secret a caller registers may be one a sandbox or
// production configuration gave, and the simulator must not keep it.
type Application struct {
	ClientID, ClientSecret string
	// RedirectURIs must match the authorize redirect_uri exactly.
	RedirectURIs []string
	Name         string
}

// registeredApp is an Application as the simulator keeps it: the client
// secret as its SHA-256 only, checked against the one a token request
// sends.
type registeredApp struct {
	ClientID     string
	SecretSHA256 [sha256.Size]byte
	RedirectURIs []string
	Name         string
}

func register(a Application) registeredApp {
	return registeredApp{ClientID: a.ClientID, SecretSHA256: sha256.Sum256([]byte(a.ClientSecret)),
		RedirectURIs: slices.Clone(a.RedirectURIs), Name: a.Name}
}

// secretMatches compares the hashes in constant time.
func (a registeredApp) secretMatches(secret string) bool {
	h := sha256.Sum256([]byte(secret))
	return subtle.ConstantTimeCompare(h[:], a.SecretSHA256[:]) == 1
}

// TestUser is a sandbox Government Gateway user. Create Test User fills every
// field it knows; AddTestUser stores whatever the caller sets.
type TestUser struct {
	UserID, Password, NINO, VRN, MTDITID, FullName string

	SAUTR, CTUTR, EmpRef, EmailAddress string
	FirstName, LastName, DateOfBirth   string // individuals; DateOfBirth is YYYY-MM-DD
	OrganisationName                   string // organisations
	VATRegistrationDate                string // YYYY-MM-DD, when VRN is set
	AffinityGroup                      string // "Individual" or "Organisation"
	ServiceNames                       []string
}

// Stats are counters for tests and the demo.
type Stats struct {
	Requests             int64 `json:"requests"`             // every HTTP request received, whatever its route (pages, token endpoint, APIs, unknown paths, controls)
	Refreshes            int64 `json:"refreshes"`            // successful refresh grants (including ones whose response was lost)
	RefreshReuses        int64 `json:"refreshReuses"`        // a refresh token presented after it had been used
	InProgressRejections int64 `json:"inProgressRejections"` // "Refresh operation is already in progress"
	CodeExchanges        int64 `json:"codeExchanges"`        // successful authorization_code grants
	TokenRequests        int64 `json:"tokenRequests"`        // /oauth/token requests admitted by the rate limiter
	APIRequests          int64 `json:"apiRequests"`          // API requests admitted by the rate limiter
	Throttled            int64 `json:"throttled"`            // 429 MESSAGE_THROTTLED_OUT answers
	MaxPerSecond         int   `json:"maxPerSecond"`         // most admitted requests of one application in any 1-second window
}

// Faults are run-time failure knobs for /oauth/token and the API routes. The
// rates are probabilities in [0,1]; at most one of Error, Timeout, Reset and
// LostResponse happens to a request (drawn in that order).
type Faults struct {
	// Latency delays a fraction LatencyRate of requests (all of them if
	// LatencyRate is 0). On a refresh the delay sits inside the grant's
	// in-progress window, so it widens the concurrent-refresh race.
	Latency     time.Duration
	LatencyRate float64
	// ErrorRate answers 500 without applying the request.
	ErrorRate float64
	// TimeoutRate hangs for Timeout (default 30s), then drops the connection
	// without applying the request.
	TimeoutRate float64
	// ResetRate drops the TCP connection at once without applying the request.
	ResetRate float64
	// LostResponseRate applies the request (e.g. rotates the refresh token),
	// then drops the connection so the client never sees the answer.
	LostResponseRate float64
	Timeout          time.Duration
	// Methods, when set, limits the faults (not the latency) to requests
	// of these methods, e.g. POST: a test loses the answer to a
	// submission while the reads before it go through.
	Methods []string
	// Seed makes the fault draws reproducible; SetFaults reseeds.
	Seed int64
	// Deprecated APIs answer with Deprecation, Sunset and Link headers,
	// whatever else happens to the request.
	Deprecated []Deprecation
}

// Server is the simulator. Create it with New; it is safe for concurrent use.
type Server struct {
	opts       Options
	log        *slog.Logger
	limiterNow func() time.Time
	offset     atomic.Int64 // nanoseconds added to opts.Now by /admin/clock
	requests   atomic.Int64 // Stats.Requests
	mux        *http.ServeMux
	// itsa, vat and fraud hold the APIs' data, each with its own locking
	// (see their types); routes sets them once, in New, and they are never
	// replaced, so SaveState and LoadState can reach them.
	itsa  *itsaState
	vat   *vatState
	fraud *fraudState
	year  *yearState // the Income Tax year end (yearend.go)

	mu            sync.Mutex // guards everything below
	apps          map[string]registeredApp
	users         map[string]*TestUser // by UserID
	sessions      map[string]*session
	codes         map[string]*authCode
	grants        []*grant
	refreshTokens map[string]*grant // current refresh token -> grant
	usedRefresh   map[string]*grant // refresh tokens already spent
	accessTokens  map[string]*accessToken
	windows       map[string]*window // per client_id
	faults        Faults
	rng           *mrand.Rand
	stats         Stats
}

// authCode is an issued authorisation code, waiting to be exchanged.
type authCode struct {
	clientID, userID, redirectURI string
	scopes                        []string
	challenge                     string // PKCE S256 challenge, "" if none was sent
	consentedAt, expiresAt        time.Time
}

// grant is one user's authority for one application, from the grant page to
// revocation or GrantLifetime. Refreshing rotates its tokens, never its age.
type grant struct {
	clientID, userID        string
	scopes                  []string
	grantedAt, expiresAt    time.Time
	refreshToken, accessTok string // the current pair; older ones are dead
	refreshing, revoked     bool
}

// accessToken is a bearer token; grant is nil for application-restricted ones.
type accessToken struct {
	clientID  string
	grant     *grant
	scopes    []string
	expiresAt time.Time
}

// New returns a simulator with no applications and no users.
func New(opts Options) *Server {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.AccessTokenLifetime <= 0 {
		opts.AccessTokenLifetime = 4 * time.Hour
	}
	if opts.CodeLifetime <= 0 {
		opts.CodeLifetime = 10 * time.Minute
	}
	if opts.GrantLifetime == nil {
		opts.GrantLifetime = func(t time.Time) time.Time { return t.AddDate(0, 18, 0) }
	}
	if opts.RateLimit == 0 {
		opts.RateLimit = 3
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		opts:          opts,
		log:           log,
		limiterNow:    time.Now,
		apps:          map[string]registeredApp{},
		users:         map[string]*TestUser{},
		sessions:      map[string]*session{},
		codes:         map[string]*authCode{},
		refreshTokens: map[string]*grant{},
		usedRefresh:   map[string]*grant{},
		accessTokens:  map[string]*accessToken{},
		windows:       map[string]*window{},
		rng:           mrand.New(mrand.NewPCG(0, 0)),
	}
	s.mux = s.routes()
	return s
}

// AddApplication registers (or replaces) an application.
func (s *Server) AddApplication(app Application) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.apps[app.ClientID] = register(app)
}

// AddTestUser registers (or replaces) a test user.
func (s *Server) AddTestUser(u TestUser) {
	u.ServiceNames = append([]string(nil), u.ServiceNames...)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[u.UserID] = &u
}

// Handler serves the whole simulator on one origin (HMRC's www and api hosts
// merged), so a single httptest.Server or listener is enough.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1) // atomic: no lock before the rate limiter's
		s.mux.ServeHTTP(w, r)
	})
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Requests = s.requests.Load()
	return st
}

// SetFaults replaces the fault knobs and reseeds the fault draws.
func (s *Server) SetFaults(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = f
	s.rng = mrand.New(mrand.NewPCG(uint64(f.Seed), 0))
}

func (s *Server) currentFaults() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults
}

// Revoke removes every grant userID gave clientID, as the "manage authorised
// applications" page does: their tokens die and refreshes get invalid_grant.
func (s *Server) Revoke(userID, clientID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.revokeLocked(userID, clientID)
}

func (s *Server) revokeLocked(userID, clientID string) {
	for _, g := range s.grants {
		if g.userID == userID && g.clientID == clientID && !g.revoked {
			g.revoked = true
			delete(s.accessTokens, g.accessTok)
		}
	}
	// A code issued before the revocation must not resurrect the authority.
	for k, c := range s.codes {
		if c.userID == userID && c.clientID == clientID {
			delete(s.codes, k)
		}
	}
	s.log.Info("hmrcsim: authority removed", "user", userID, "client_id", clientID)
}

// now is the simulator clock: Options.Now plus the /admin/clock offset.
func (s *Server) now() time.Time {
	return s.opts.Now().Add(time.Duration(s.offset.Load()))
}

// randomHex returns 64 hex characters from crypto/rand: unguessable tokens.
func randomHex() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeAPIError writes HMRC's platform error body {"code","message"}.
func writeAPIError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, map[string]string{"code": code, "message": message})
}

// tokenError writes the RFC 6749 body used by /oauth/token.
func tokenError(w http.ResponseWriter, status int, code, description string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": description})
}

func (s *Server) routes() *http.ServeMux {
	mux := http.NewServeMux()

	// Browser pages (HMRC's www host): not throttled, no faults.
	mux.HandleFunc("GET /{$}", s.handleIndex)
	mux.HandleFunc("GET /oauth/authorize", s.handleAuthorize)
	mux.HandleFunc("POST /oauth/authorize/sign-in", s.handleSignIn)
	mux.HandleFunc("POST /oauth/authorize/grant", s.handleGrant)
	mux.HandleFunc("GET /applications-manage-authority", s.handleManage)
	mux.HandleFunc("POST /applications-manage-authority/sign-in", s.handleManageSignIn)
	mux.HandleFunc("POST /applications-manage-authority/remove", s.handleManageRemove)

	// Token endpoint: throttled per client_id and fault-injected.
	mux.Handle("POST /oauth/token", s.guard(tokenEndpoint, http.HandlerFunc(s.handleToken)))

	// APIs (HMRC's api host).
	s.handleAPI(mux, "GET /hello/world", s.helloWorld)
	s.handleAPI(mux, "GET /hello/application", s.helloApplication)
	s.handleAPI(mux, "GET /hello/user", s.helloUser)
	s.handleAPI(mux, "POST /create-test-user/individuals", s.createIndividual)
	s.handleAPI(mux, "POST /create-test-user/organisations", s.createOrganisation)
	s.handleAPI(mux, "GET /create-test-user/services", s.testUserServices)

	// Every API route goes through s.handleAPI, so it passes the rate
	// limiter and the fault injection.
	registerITSA(s, mux)
	registerVAT(s, mux)
	registerFraud(s, mux)
	registerYearEnd(s, mux)
	registerTestSupport(s, mux)
	registerUnimplemented(s, mux)

	// Controls for tests and loadtest: unauthenticated, so served only when
	// Options.Controls asks and only to same-origin callers (admin.go).
	mux.HandleFunc("GET /admin/faults", s.controls(s.adminGetFaults))
	mux.HandleFunc("PUT /admin/faults", s.controls(s.adminPutFaults))
	mux.HandleFunc("GET /admin/stats", s.controls(s.adminStats))
	mux.HandleFunc("GET /admin/clock", s.controls(s.adminGetClock))
	mux.HandleFunc("POST /admin/clock", s.controls(s.adminAdvanceClock))

	// Anything else looks like an unknown API resource, as on HMRC's gateway.
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeAPIError(w, http.StatusNotFound, "MATCHING_RESOURCE_NOT_FOUND", "A resource with the name in the request can not be found in the API")
	})
	return mux
}

// handleAPI registers an API route behind the rate limiter and fault injection.
func (s *Server) handleAPI(mux *http.ServeMux, pattern string, h http.HandlerFunc) {
	mux.Handle(pattern, s.guard(apiEndpoint, h))
}

// ---- Rate limiting ----

// endpoint says which counter a guarded request feeds and how its
// application is identified.
type endpoint int

const (
	tokenEndpoint endpoint = iota // client_id from the form body
	apiEndpoint                   // client_id of the bearer token's application
)

// window is a sliding log of one application's admitted requests. A sliding
// window (rather than a bucket with burst) guarantees no 1-second span ever
// holds more than the rate, which is what HMRC enforces.
type window struct{ times []time.Time }

// admit records a request that arrived at now if the rate allows it, and
// returns how many admitted requests fall in the second ending at now (for
// MaxPerSecond). Requests are counted at arrival, and one that arrived
// earlier may be admitted after a later one: the log is kept in arrival
// order, and the request is refused if, with it, more than the rate would
// fall in any span.
func (w *window) admit(now time.Time, rate float64) (bool, int) {
	span, limit := time.Second, int(rate)
	if rate > 0 && rate < 1 {
		span, limit = time.Duration(float64(time.Second)/rate), 1
	}
	w.prune(now.Add(-max(span, time.Second)))
	i := len(w.times)
	for i > 0 && w.times[i-1].After(now) {
		i--
	}
	w.times = slices.Insert(w.times, i, now)
	if rate > 0 {
		// limit+1 requests, this one among them, within less than span.
		for j := max(0, i-limit); j <= i && j+limit < len(w.times); j++ {
			if w.times[j+limit].Sub(w.times[j]) < span {
				w.times = slices.Delete(w.times, i, i+1)
				return false, 0
			}
		}
	}
	n := 0
	for j := i; j >= 0 && w.times[j].After(now.Add(-time.Second)); j-- {
		n++
	}
	return true, n
}

func (w *window) prune(before time.Time) {
	i := 0
	for i < len(w.times) && !w.times[i].After(before) {
		i++
	}
	w.times = w.times[i:]
}

// clientOf names the application a request counts against. Requests with no
// recognisable application share the "" bucket.
func (s *Server) clientOf(kind endpoint, r *http.Request) string {
	if kind == tokenEndpoint {
		_ = r.ParseForm() // HMRC reads the body only; PostForm ignores the query
		return r.PostForm.Get("client_id")
	}
	tok, ok := bearerToken(r)
	if !ok {
		return ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if at := s.accessTokens[tok]; at != nil {
		return at.clientID
	}
	return ""
}

// admit applies the per-application limit and updates the counters.
func (s *Server) admit(kind endpoint, client string, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.windows[client]
	if w == nil {
		w = &window{}
		s.windows[client] = w
	}
	ok, inSecond := w.admit(now, s.opts.RateLimit)
	if !ok {
		s.stats.Throttled++
		return false
	}
	s.stats.MaxPerSecond = max(s.stats.MaxPerSecond, inSecond)
	if kind == tokenEndpoint {
		s.stats.TokenRequests++
	} else {
		s.stats.APIRequests++
	}
	return true
}

// ---- Fault injection ----

type fault int

const (
	faultNone fault = iota
	faultError
	faultTimeout
	faultReset
	faultLost
)

// faultPlan is what happens to one request, drawn once when it arrives.
type faultPlan struct {
	fault   fault
	latency time.Duration
	timeout time.Duration
}

type planKey struct{}

func (s *Server) drawFault(method string) faultPlan {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.faults
	p := faultPlan{timeout: f.Timeout}
	if p.timeout <= 0 {
		p.timeout = 30 * time.Second
	}
	if f.Latency > 0 && (f.LatencyRate == 0 || s.rng.Float64() < f.LatencyRate) {
		p.latency = f.Latency
	}
	x := s.rng.Float64()
	if len(f.Methods) > 0 && !slices.Contains(f.Methods, method) {
		return p
	}
	switch {
	case x < f.ErrorRate:
		p.fault = faultError
	case x < f.ErrorRate+f.TimeoutRate:
		p.fault = faultTimeout
	case x < f.ErrorRate+f.TimeoutRate+f.ResetRate:
		p.fault = faultReset
	case x < f.ErrorRate+f.TimeoutRate+f.ResetRate+f.LostResponseRate:
		p.fault = faultLost
	}
	return p
}

// pause applies the request's drawn latency. Handlers call it at the point
// where a slow HMRC would be slow: inside the refresh's in-progress window.
func (s *Server) pause(r *http.Request) {
	p, _ := r.Context().Value(planKey{}).(faultPlan)
	sleep(r.Context(), p.latency)
}

func sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// guard puts a route behind the rate limiter and the fault injection.
func (s *Server) guard(kind endpoint, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Counted when it arrived, as HMRC's gateway counts, not after
		// reading the form or waiting for the state's lock.
		arrived := s.limiterNow()
		if !s.admit(kind, s.clientOf(kind, r), arrived) {
			writeAPIError(w, http.StatusTooManyRequests, "MESSAGE_THROTTLED_OUT",
				"The request for the API is throttled as you have exceeded your quota.")
			return
		}
		if kind == apiEndpoint {
			w.Header().Set("X-CorrelationId", newCorrelationID())
		}
		plan := s.drawFault(r.Method)
		r = r.WithContext(context.WithValue(r.Context(), planKey{}, plan))
		if kind == apiEndpoint && plan.fault != faultError && plan.fault != faultTimeout && plan.fault != faultReset {
			s.pause(r) // the token handler pauses itself, inside the refresh window
		}
		switch plan.fault {
		case faultError:
			s.log.Info("hmrcsim: fault: 500", "path", r.URL.Path)
			if kind == tokenEndpoint {
				tokenError(w, http.StatusInternalServerError, "server_error", "An unexpected error occurred")
			} else {
				writeAPIError(w, http.StatusInternalServerError, "INTERNAL_SERVER_ERROR", "An internal server error occurred")
			}
		case faultTimeout:
			s.log.Info("hmrcsim: fault: timeout", "path", r.URL.Path)
			sleep(r.Context(), plan.timeout)
			dropConnection(w)
		case faultReset:
			s.log.Info("hmrcsim: fault: reset", "path", r.URL.Path)
			dropConnection(w)
		case faultLost:
			s.log.Info("hmrcsim: fault: lost response", "path", r.URL.Path)
			h.ServeHTTP(&discardWriter{header: http.Header{}}, r)
			dropConnection(w)
		default:
			h.ServeHTTP(w, r)
		}
	})
}

// dropConnection closes the client's connection with no response at all, as a
// network fault would. SetLinger(0) makes it a reset rather than a clean close.
func dropConnection(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler) // HTTP/2: abort the stream instead
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// discardWriter swallows a response that the lost-response fault never sends.
type discardWriter struct{ header http.Header }

func (d *discardWriter) Header() http.Header         { return d.header }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(int)             {}

// newCorrelationID returns a 36-character UUID-shaped id, like HMRC's
// X-CorrelationId header.
func newCorrelationID() string {
	h := randomHex()
	return h[0:8] + "-" + h[8:12] + "-4" + h[13:16] + "-a" + h[17:20] + "-" + h[20:32]
}
