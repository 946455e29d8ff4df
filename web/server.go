// Package web serves the landlord's pages (sign in, Settings → HMRC
// Connection, the OAuth callback, quarterly updates, VAT returns) and the
// JSON API the platform's backend calls. Both call the landlord service for
// every action on a connection or a filing: a handler decodes, calls and
// renders. Browser routes and API routes are separate muxes: the browser
// one gets a CSP, security headers and cross-origin (CSRF) protection; the
// API one takes bearer API keys and refuses form bodies.
package web

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrc"
	"github.com/mtdconnect/mtdconnect/landlord"
	"github.com/mtdconnect/mtdconnect/seal"
	"github.com/mtdconnect/mtdconnect/webhook"
)

// Config configures a Server.
type Config struct {
	Store mtdconnect.Store
	// HMRC is read for the HMRC application (the admin page) and this
	// server's batch origin; every action goes through Landlord.
	HMRC *hmrc.Client
	// Landlord runs the actions on landlords' connections and filings.
	Landlord *landlord.Service
	Logger   *slog.Logger     // nil: slog.Default()
	Now      func() time.Time // nil: time.Now
	// Sealer seals landlords' authenticator-app secrets (the optional
	// second factor at sign-in, mfa.go). nil: no second factor can be
	// added, and a landlord who has one cannot sign in on this server.
	Sealer *seal.Sealer
	// Webhooks makes and manages the platform's webhook endpoints; nil:
	// one over Store and Sealer allowing public https receivers only.
	Webhooks *webhook.Manager

	// PublicURL is where browsers reach the service, e.g.
	// http://127.0.0.1:8080. Cookies are Secure unless it is plain http on
	// localhost or a loopback address; HSTS is sent when it is https.
	PublicURL string
	// ManageAuthorityURL is HMRC's "manage authorised applications" page,
	// where a landlord removes the authority after disconnecting (HMRC has
	// no revocation endpoint for applications).
	ManageAuthorityURL string
	// AuthorizeURL is HMRC's authorize endpoint (the one hmrc.Config has).
	// Its origin is added to the CSP form-action, since some browsers apply
	// form-action to the redirect that follows the Connect form's POST.
	// Optional: without it, such browsers may refuse that redirect.
	AuthorizeURL string

	// PlatformName is the landlord platform's name, as the hosted connect
	// page shows it ("Connect Acme Lettings to HMRC"). Empty: "your
	// landlord platform".
	PlatformName string

	// MaxPasswordChecks bounds the password checks (argon2id, 19 MiB
	// each) running at once; a sign-in that finds them all busy for long
	// is answered 503 with Retry-After. Default: the number of CPUs, at
	// least 2.
	MaxPasswordChecks int

	// Fraud prevention data (see origin.go).
	//
	// TrustedProxies are the load balancers and proxies whose
	// X-Forwarded-For or Forwarded headers are believed; a request from any
	// other peer is taken to come from that peer. Empty: none.
	TrustedProxies []netip.Prefix
	// VendorPublicIP is the public IP clients connect to (the load
	// balancer's), Gov-Vendor-Public-IP. Empty: the address each request
	// was received on, right only when clients reach this server directly.
	VendorPublicIP string
	// LicenceIDs are this software's licences, name → licence, sent hashed
	// in Gov-Vendor-License-IDs. Empty: the header is declared missing.
	LicenceIDs map[string]string
}

// Server serves the pages and the API. Build it with New.
type Server struct {
	store    mtdconnect.Store
	hmrc     *hmrc.Client
	landlord *landlord.Service
	sealer   *seal.Sealer     // nil: no second factor (mfa.go)
	webhooks *webhook.Manager // nil without a sealer
	log      *slog.Logger
	now      func() time.Time
	pages    map[string]*template.Template
	london   *time.Location

	manageAuthorityURL string
	secureCookies      bool
	hsts               bool
	csp                string
	formAction         string // the CSP's form-action sources
	publicURL          string // no trailing slash
	platformName       string
	flashKey           []byte // signs flash cookies; per process, losing one is harmless

	trustedProxies []netip.Prefix
	vendorPublicIP netip.Addr // zero: each request's local address
	licenceIDs     map[string]string

	passwordChecks chan struct{} // a slot per password check running (throttle.go)
}

// Session and flash lifetimes.
const (
	sessionCookie   = "mtdconnect_session"
	sessionLifetime = 12 * time.Hour
	flashCookie     = "mtdconnect_flash"
)

// New checks cfg and parses the templates.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil {
		return nil, errors.New("web: store is required")
	}
	if cfg.HMRC == nil || cfg.Landlord == nil {
		return nil, errors.New("web: hmrc client and landlord service are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	pub, err := url.Parse(cfg.PublicURL)
	if err != nil || (pub.Scheme != "http" && pub.Scheme != "https") || pub.Host == "" {
		return nil, fmt.Errorf("web: public URL %q must be an absolute http(s) URL", cfg.PublicURL)
	}
	formAction := "'self'"
	if cfg.AuthorizeURL != "" {
		u, err := url.Parse(cfg.AuthorizeURL)
		if err != nil || u.Scheme == "" || u.Host == "" {
			return nil, fmt.Errorf("web: authorize URL %q must be absolute", cfg.AuthorizeURL)
		}
		formAction += " " + u.Scheme + "://" + u.Host
	}
	if cfg.ManageAuthorityURL == "" {
		cfg.ManageAuthorityURL = hmrc.ProductionManageAuthorityURL
	}
	pages, err := parseTemplates()
	if err != nil {
		return nil, err
	}
	// Dates are shown as UK dates; hmrc links the zone database in, so a
	// failure here is a broken build, not a host without zones.
	london, err := time.LoadLocation("Europe/London")
	if err != nil {
		return nil, fmt.Errorf("web: load the UK time zone: %w", err)
	}
	key := make([]byte, 32)
	rand.Read(key)
	var vendorIP netip.Addr
	if cfg.VendorPublicIP != "" {
		vendorIP, err = netip.ParseAddr(cfg.VendorPublicIP)
		if err != nil || vendorIP.Zone() != "" {
			return nil, fmt.Errorf("web: vendor public IP %q is not an IP address", cfg.VendorPublicIP)
		}
		vendorIP = vendorIP.Unmap()
	}
	if cfg.MaxPasswordChecks <= 0 {
		cfg.MaxPasswordChecks = max(2, runtime.NumCPU())
	}
	for name, lic := range cfg.LicenceIDs {
		if name == "" || lic == "" {
			return nil, fmt.Errorf("web: licence IDs need a software name and a licence, not %q=%q", name, lic)
		}
	}
	webhooks := cfg.Webhooks
	if webhooks == nil && cfg.Sealer != nil {
		webhooks = &webhook.Manager{Store: cfg.Store, Sealer: cfg.Sealer, Now: cfg.Now}
	}
	return &Server{
		store:              cfg.Store,
		hmrc:               cfg.HMRC,
		landlord:           cfg.Landlord,
		sealer:             cfg.Sealer,
		webhooks:           webhooks,
		log:                cfg.Logger,
		now:                cfg.Now,
		pages:              pages,
		london:             london,
		manageAuthorityURL: cfg.ManageAuthorityURL,
		secureCookies:      !(pub.Scheme == "http" && isLocalHost(pub.Hostname())),
		hsts:               pub.Scheme == "https",
		csp:                cspWithFormAction(formAction),
		formAction:         formAction,
		publicURL:          strings.TrimSuffix(cfg.PublicURL, "/"),
		platformName:       cmp.Or(strings.TrimSpace(cfg.PlatformName), "your landlord platform"),
		flashKey:           key,
		trustedProxies:     slices.Clone(cfg.TrustedProxies),
		vendorPublicIP:     vendorIP,
		licenceIDs:         maps.Clone(cfg.LicenceIDs),
		passwordChecks:     make(chan struct{}, cfg.MaxPasswordChecks),
	}, nil
}

// cspWithFormAction is the pages' strict Content-Security-Policy with the
// given form-action sources.
func cspWithFormAction(formAction string) string {
	return "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; " +
		"form-action " + formAction + "; frame-ancestors 'none'; base-uri 'self'"
}

func isLocalHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// browserRoutes is every page and form of the browser side (the year
// end's in yearend.go). TestBadTextNeverAnswers500 probes each.
func (s *Server) browserRoutes() []route {
	return append([]route{
		{"GET /{$}", s.handleIndex},
		{"GET /signin", s.handleSigninPage},
		{"POST /signin", s.handleSignin},
		{"POST /signout", s.handleSignout},
		{"GET /signin/code", s.handleSigninCodePage},
		{"POST /signin/code", s.handleSigninCode},
		{"GET /settings/security", s.requireUser(s.handleSecurity)},
		{"GET /settings/security/totp", s.requireUser(s.handleTOTPEnrolPage)},
		{"POST /settings/security/totp", s.requireUser(s.handleTOTPEnrol)},
		{"POST /settings/security/totp/remove", s.requireUser(s.handleTOTPRemove)},
		{"POST /settings/security/recovery-codes", s.requireUser(s.handleRecoveryCodes)},
		{"GET /settings/hmrc", s.requireUser(s.handleSettings)},
		{"POST /settings/hmrc/connect", s.requireUser(s.handleConnect)},
		{"POST /settings/hmrc/refresh", s.requireUser(s.handleRefresh)},
		{"POST /settings/hmrc/test", s.requireUser(s.handleTest)},
		{"POST /settings/hmrc/disconnect", s.requireUser(s.handleDisconnect)},
		{"POST /settings/nino", s.requireUser(s.handleNINO)},
		{"GET /quarterly", s.requireUser(s.handleQuarterly)},
		{"POST /quarterly/submit", s.requireUser(s.handleQuarterlySubmit)},
		{"POST /quarterly/period-type", s.requireUser(s.handleQuarterlyPeriodType)},
		{"GET /quarterly/receipts/{id}", s.requireUser(s.handleReceipt)},
		{"GET /vat", s.requireUser(s.handleVAT)},
		{"POST /vat/vrn", s.requireUser(s.handleVATVRN)},
		{"POST /vat/submit", s.requireUser(s.handleVATSubmit)},
		{"GET /vat/receipts/{id}", s.requireUser(s.handleVATReceipt)},
		{"GET /vat/returns/{periodKey}", s.requireUser(s.handleVATReturn)},
		{"GET /oauth/hmrc/callback", s.handleCallback},
		{"GET /connect/{token}", s.handleConnectPage},
		{"POST /connect/{token}", s.handleConnectContinue},
		{"POST /connect/{token}/cancel", s.handleConnectCancel},
		{"GET " + adminHMRCPath, s.requireAdmin(s.handleAdminHMRC)},
		{"POST " + adminHMRCPath + "/application", s.requireAdmin(s.handleAdminApplication)},
		{"POST " + adminHMRCPath + "/secrets", s.requireAdmin(s.handleAdminAddSecret)},
		{"POST " + adminHMRCPath + "/secrets/remove", s.requireAdmin(s.handleAdminRemoveSecret)},
		{"POST " + adminHMRCPath + "/consent", s.requireAdmin(s.handleAdminConsent)},
		{"POST " + adminHMRCPath + "/fraud-headers", s.requireAdmin(s.handleAdminFraudCheck)},
		{"GET " + adminKeysPath, s.requireAdmin(s.handleAdminKeys)},
		{"POST " + adminKeysPath, s.requireAdmin(s.handleAdminKeyCreate)},
		{"POST " + adminKeysPath + "/rotate", s.requireAdmin(s.handleAdminKeyRotate)},
		{"POST " + adminKeysPath + "/revoke", s.requireAdmin(s.handleAdminKeyRevoke)},
		{"GET " + adminWebhooksPath, s.requireAdmin(s.handleAdminWebhooks)},
		{"POST " + adminWebhooksPath, s.requireAdmin(s.handleAdminWebhookCreate)},
		{"POST " + adminWebhooksPath + "/rotate", s.requireAdmin(s.handleAdminWebhookRotate)},
		{"POST " + adminWebhooksPath + "/delete", s.requireAdmin(s.handleAdminWebhookDelete)},
		{"POST " + adminWebhooksPath + "/redeliver", s.requireAdmin(s.handleAdminWebhookRedeliver)},
		{"GET " + adminConnectPath, s.requireAdmin(s.handleAdminConnect)},
		{"POST " + adminConnectPath, s.requireAdmin(s.handleAdminReturnURLAdd)},
		{"POST " + adminConnectPath + "/remove", s.requireAdmin(s.handleAdminReturnURLRemove)},
		{"GET /static/", s.staticHandler().ServeHTTP},
		{"GET /favicon.ico", s.handleFavicon},
	}, s.yearEndPages()...)
}

// route is a pattern of a mux and its handler.
type route struct {
	pattern string
	handler http.HandlerFunc
}

// Handler returns the whole service: the browser routes behind CSP and
// cross-origin protection, the JSON API under /api/, and /healthz, all
// behind the request log.
func (s *Server) Handler() http.Handler {
	browser := http.NewServeMux()
	for _, rt := range s.browserRoutes() {
		s.route(browser, rt.pattern, rt.handler)
	}

	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(s.handleCrossOrigin))

	api := http.NewServeMux()
	for _, rt := range s.apiRoutes() {
		if rt.scope == "" {
			s.route(api, rt.pattern, rt.handler)
			continue
		}
		s.route(api, rt.pattern, s.requireAPIKey(rt.scope, rt.handler))
	}
	s.route(api, "/api/", func(w http.ResponseWriter, r *http.Request) {
		s.writeJSONError(w, r, problem{Status: http.StatusNotFound, Code: "not_found", Message: "No such API route."})
	})

	root := http.NewServeMux()
	root.Handle("/", s.browserHeaders(s.withDevice(cop.Handler(s.browserText(s.notFoundPages(browser))))))
	root.Handle("/api/", s.apiHeaders(s.apiText(api)))
	root.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		info(r.Context()).pattern = "GET /healthz"
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		fmt.Fprint(w, "ok")
	})
	return s.logRequests(s.canonicalAPIPaths(root))
}

// canonicalAPIPaths refuses an API request whose path has an empty
// segment (//) or a dot segment (. or ..) with 400, where the mux would
// redirect to the cleaned path: an API client does not follow redirects
// with its key and body, and for the proxy such a path is an attempt to
// reach another endpoint than it names.
func (s *Server) canonicalAPIPaths(next http.Handler) http.Handler {
	refuse := s.apiHeaders(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.writeJSONError(w, r, problem{Status: http.StatusBadRequest, Code: "invalid_path",
			Message: "The request path has an empty segment (//) or a dot segment (. or ..); it is not cleaned or redirected. Nothing was done."})
	}))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/") {
			segs := strings.Split(r.URL.EscapedPath(), "/")[1:]
			for i, seg := range segs {
				if seg == "." || seg == ".." || seg == "" && i < len(segs)-1 {
					refuse.ServeHTTP(w, r)
					return
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

// route registers h and records the matched pattern for the request log
// (the query string of the callback carries a code: only patterns are
// logged, never URLs).
func (s *Server) route(mux *http.ServeMux, pattern string, h http.HandlerFunc) {
	mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		info(r.Context()).pattern = r.Pattern
		h(w, r)
	})
}

// browserHeaders sets the security headers every browser response gets.
func (s *Server) browserHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", s.csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		if s.hsts {
			h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		}
		if strings.HasPrefix(r.URL.Path, "/static/") {
			h.Set("Cache-Control", "no-cache")
		} else {
			h.Set("Cache-Control", "no-store")
		}
		next.ServeHTTP(w, r)
	})
}

// apiHeaders sets the headers every API response gets and refuses form
// bodies, so an HTML form on another site cannot drive the API.
func (s *Server) apiHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-store")
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		if s.hsts {
			h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		}
		if isFormBody(r) {
			s.writeJSONError(w, r, problem{Status: http.StatusUnsupportedMediaType, Code: "unsupported_media_type",
				Message: "The API takes JSON, not form bodies."})
			return
		}
		next.ServeHTTP(w, r)
	})
}

func isFormBody(r *http.Request) bool {
	ct := strings.ToLower(r.Header.Get("Content-Type"))
	for _, form := range []string{"application/x-www-form-urlencoded", "multipart/form-data", "text/plain"} {
		if strings.HasPrefix(ct, form) {
			return true
		}
	}
	return false
}

func (s *Server) handleCrossOrigin(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	if strings.HasPrefix(path, "/connect/") {
		path = "/connect/{token}" // the token is a credential
	}
	s.log.Warn("cross-origin request refused", "method", r.Method, "path", path,
		"sec_fetch_site", r.Header.Get("Sec-Fetch-Site"), "origin", r.Header.Get("Origin"))
	s.renderMessage(w, r, http.StatusForbidden, message{
		Title: "Request refused",
		Text:  "This request came from another website, so it was refused. Nothing was changed.",
	})
}

// staticHandler serves the embedded CSS and fph.js, without directory
// listings.
func (s *Server) staticHandler() http.Handler {
	files := http.FileServerFS(staticFS)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r)
			return
		}
		files.ServeHTTP(w, r)
	})
}

// handleFavicon answers the browsers that ask for /favicon.ico whatever
// the page's <link rel="icon"> says, with the same icon.
func (s *Server) handleFavicon(w http.ResponseWriter, r *http.Request) {
	b, err := staticFS.ReadFile("static/favicon.svg")
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Header().Set("Cache-Control", "public, max-age=86400")
	w.Write(b)
}

// notFoundPages answers every plain-text 404 of the browser side (an
// unknown route, a missing static file) with the site's own "Page not
// found" page, menu and all for a signed-in landlord.
func (s *Server) notFoundPages(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(&notFoundWriter{ResponseWriter: w, s: s, r: r}, r)
	})
}

// notFoundWriter swaps the plain text http.NotFound writes for the 404
// page. Pages the service renders itself are HTML and pass through.
type notFoundWriter struct {
	http.ResponseWriter
	s        *Server
	r        *http.Request
	replaced bool
}

func (n *notFoundWriter) WriteHeader(code int) {
	if code == http.StatusNotFound && strings.HasPrefix(n.Header().Get("Content-Type"), "text/plain") {
		n.replaced = true
		n.s.renderNotFound(n.ResponseWriter, n.r)
		return
	}
	n.ResponseWriter.WriteHeader(code)
}

func (n *notFoundWriter) Write(b []byte) (int, error) {
	if n.replaced {
		return len(b), nil
	}
	return n.ResponseWriter.Write(b)
}

func (n *notFoundWriter) Unwrap() http.ResponseWriter { return n.ResponseWriter }

// renderNotFound is the site's 404 page, with the menu when the visitor
// is signed in.
func (s *Server) renderNotFound(w http.ResponseWriter, r *http.Request) {
	if currentUser(r.Context()) == nil {
		if u, err := s.sessionUser(r); err == nil && u != nil {
			r = r.WithContext(context.WithValue(r.Context(), userKey{}, u))
		}
	}
	s.renderMessage(w, r, http.StatusNotFound, message{
		Title: "Page not found",
		Text:  "If you typed the web address, check it is correct. If you pasted it, check you copied the whole address.",
		Home:  true,
	})
}
