// Command landlord-platform is a small landlord platform, standing for the
// platforms mtdconnect is built for: it has its own sign-in and its own
// users, and connects them to HMRC through mtdconnect's public JSON API and
// connect sessions only, with its own scoped API key. Its landlords never
// see an mtdconnect sign-in.
//
// Run it next to mtdconnect (README.md in this directory):
//
//	EXAMPLE_API_KEY=mtdc_… go run ./examples/landlord-platform
//
// Its demo users live in memory: alice@example.com / alice-demo and
// bob@example.com / bob-demo.
package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"
)

//go:embed templates/*.html
var templateFS embed.FS

// demoUser is one of the platform's own users. The ref is the platform's
// ID of the landlord, which is how mtdconnect knows them.
type demoUser struct {
	Email, Password, Name, Ref, NINO string
}

// demoUsers are the platform's users. Alice's NINO is the one of the HMRC
// simulator's demo test user, so her connection can be tested at HMRC.
var demoUsers = []*demoUser{
	{Email: "alice@example.com", Password: "alice-demo", Name: "Alice Landlord", Ref: "acme-1001", NINO: "TC663795B"},
	{Email: "bob@example.com", Password: "bob-demo", Name: "Bob Landlord", Ref: "acme-1002"},
}

// config is the platform's configuration, from flags with EXAMPLE_*
// environment fallbacks.
type config struct {
	Addr       string // listen address
	PublicURL  string // where browsers reach it (default http://ADDR)
	Mtdconnect string // mtdconnect's URL
	APIKey     string // the platform's mtdconnect API key
	Name       string // the platform's name
}

func loadConfig(args []string, getenv func(string) string) (config, error) {
	fs := flag.NewFlagSet("landlord-platform", flag.ContinueOnError)
	c := config{}
	fs.StringVar(&c.Addr, "addr", cmp.Or(getenv("EXAMPLE_ADDR"), "127.0.0.1:8090"), "listen address (EXAMPLE_ADDR)")
	fs.StringVar(&c.PublicURL, "public-url", getenv("EXAMPLE_PUBLIC_URL"), "public URL (EXAMPLE_PUBLIC_URL; default http://ADDR)")
	fs.StringVar(&c.Mtdconnect, "mtdconnect-url", cmp.Or(getenv("EXAMPLE_MTDCONNECT_URL"), "http://127.0.0.1:8080"), "mtdconnect's URL (EXAMPLE_MTDCONNECT_URL)")
	fs.StringVar(&c.Name, "name", cmp.Or(getenv("EXAMPLE_NAME"), "Acme Lettings"), "the platform's name (EXAMPLE_NAME)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	// The key only from the environment: a flag would show in ps.
	c.APIKey = strings.TrimSpace(getenv("EXAMPLE_API_KEY"))
	if !strings.HasPrefix(c.APIKey, "mtdc_") {
		return c, errors.New("EXAMPLE_API_KEY must hold the platform's mtdconnect API key (mtdconnect apikey create --name example --scopes users,connect,connections:read,connections:write)")
	}
	c.PublicURL = strings.TrimSuffix(cmp.Or(c.PublicURL, "http://"+c.Addr), "/")
	c.Mtdconnect = strings.TrimSuffix(c.Mtdconnect, "/")
	for _, u := range []string{c.PublicURL, c.Mtdconnect} {
		if p, err := url.Parse(u); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return c, fmt.Errorf("%q must be an absolute http(s) URL", u)
		}
	}
	return c, nil
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg, err := loadConfig(os.Args[1:], os.Getenv)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "landlord-platform:", err)
		os.Exit(2)
	}
	if err := run(ctx, cfg, slog.New(slog.NewTextHandler(os.Stderr, nil))); err != nil {
		fmt.Fprintln(os.Stderr, "landlord-platform:", err)
		os.Exit(1)
	}
}

// run serves the platform until ctx ends.
func run(ctx context.Context, cfg config, log *slog.Logger) error {
	p, err := newPlatform(cfg, log)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	// Listening first: mtdconnect may send at once.
	if p.hooks, err = p.mtd.registerWebhook(ctx, cfg.PublicURL+webhookPath); err != nil {
		log.Warn("no webhooks: the connection's state is read from the API only", "err", err)
	}
	srv := &http.Server{Handler: p.handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	fmt.Printf("%s is running: %s (mtdconnect at %s)\n", cfg.Name, cfg.PublicURL, cfg.Mtdconnect)
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// platform is the web app: sign-in, sessions, pages.
type platform struct {
	cfg   config
	log   *slog.Logger
	mtd   *mtdconnectClient
	pages map[string]*template.Template
	// hooks receives mtdconnect's webhooks; nil when the key may not
	// manage them (no webhooks scope) or mtdconnect refused the URL.
	hooks *webhooks

	mu       sync.Mutex
	sessions map[string]*session
}

// session is a signed-in browser, kept in memory.
type session struct {
	user  *demoUser
	flash string
	// connecting is the connect session this browser started, so that
	// coming back can be matched to it.
	connecting string
}

func newPlatform(cfg config, log *slog.Logger) (*platform, error) {
	p := &platform{cfg: cfg, log: log, sessions: map[string]*session{}, pages: map[string]*template.Template{},
		mtd: &mtdconnectClient{baseURL: cfg.Mtdconnect, apiKey: cfg.APIKey, http: &http.Client{Timeout: 30 * time.Second}}}
	for _, name := range []string{"signin", "home", "settings", "hmrc"} {
		t, err := template.ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, err
		}
		p.pages[name] = t
	}
	return p, nil
}

const sessionCookie = "acme_session"

func (p *platform) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", p.signedIn(p.handleHome))
	mux.HandleFunc("GET /signin", p.handleSigninPage)
	mux.HandleFunc("POST /signin", p.handleSignin)
	mux.HandleFunc("POST /signout", p.handleSignout)
	mux.HandleFunc("GET /settings", p.signedIn(p.handleSettings))
	mux.HandleFunc("GET /settings/hmrc", p.signedIn(p.handleHMRC))
	mux.HandleFunc("POST /settings/hmrc/connect", p.signedIn(p.handleConnect))
	mux.HandleFunc("GET /settings/hmrc/return", p.signedIn(p.handleReturn))
	mux.HandleFunc("POST /settings/hmrc/disconnect", p.signedIn(p.handleDisconnect))
	mux.HandleFunc("POST "+webhookPath, func(w http.ResponseWriter, r *http.Request) {
		if p.hooks == nil {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		p.hooks.ServeHTTP(w, r)
	})
	// Forms cannot be posted from other sites.
	cop := http.NewCrossOriginProtection()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' "+p.cfg.Mtdconnect+"; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cache-Control", "no-store")
		cop.Handler(mux).ServeHTTP(w, r)
	})
}

func (p *platform) render(w http.ResponseWriter, status int, name, title string, s *session, data any) {
	var user *demoUser
	if s != nil {
		user = s.user
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	err := p.pages[name].ExecuteTemplate(w, "layout", struct {
		Platform, Title string
		User            *demoUser
		Data            any
	}{p.cfg.Name, title, user, data})
	if err != nil {
		p.log.Error("render", "page", name, "err", err)
	}
}

// ---- sign-in ----

func (p *platform) session(r *http.Request) *session {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sessions[c.Value]
}

func (p *platform) signedIn(h func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s := p.session(r)
		if s == nil {
			http.Redirect(w, r, "/signin", http.StatusSeeOther)
			return
		}
		h(w, r, s)
	}
}

func (p *platform) handleSigninPage(w http.ResponseWriter, r *http.Request) {
	p.render(w, http.StatusOK, "signin", "Sign in", nil, "")
}

func (p *platform) handleSignin(w http.ResponseWriter, r *http.Request) {
	email, password := strings.TrimSpace(r.PostFormValue("email")), r.PostFormValue("password")
	var user *demoUser
	for _, u := range demoUsers {
		if u.Email == email && subtle.ConstantTimeCompare([]byte(u.Password), []byte(password)) == 1 {
			user = u
		}
	}
	if user == nil {
		p.render(w, http.StatusUnauthorized, "signin", "Sign in", nil, "Email or password is wrong.")
		return
	}
	// mtdconnect knows the landlord by the platform's own ID; PUT is
	// idempotent, so it runs at every sign-in and keeps the details fresh.
	if err := p.mtd.putLandlord(r.Context(), user.Ref, landlordDetails{Email: user.Email, DisplayName: user.Name, NINO: user.NINO}); err != nil {
		p.log.Error("register the landlord with mtdconnect", "ref", user.Ref, "err", err)
		p.render(w, http.StatusBadGateway, "signin", "Sign in", nil, "HMRC features are unavailable just now. Try again in a minute.")
		return
	}
	b := make([]byte, 32)
	rand.Read(b)
	token := base64.RawURLEncoding.EncodeToString(b)
	p.mu.Lock()
	p.sessions[token] = &session{user: user}
	p.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: token, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: strings.HasPrefix(p.cfg.PublicURL, "https:")})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (p *platform) handleSignout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		p.mu.Lock()
		delete(p.sessions, c.Value)
		p.mu.Unlock()
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Path: "/", MaxAge: -1})
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
}

// ---- pages ----

func (p *platform) handleHome(w http.ResponseWriter, r *http.Request, s *session) {
	p.render(w, http.StatusOK, "home", "Your properties", s, nil)
}

func (p *platform) handleSettings(w http.ResponseWriter, r *http.Request, s *session) {
	p.render(w, http.StatusOK, "settings", "Settings", s, nil)
}

// hmrcPage is Settings → HMRC Connection.
type hmrcPage struct {
	Flash          string
	Status         string // Connected, Not connected, Needs reconnect
	Connected      bool
	NeedsReconnect bool
	Reason         string
	Since, Ends    string
	Unavailable    bool
	// Heard is what mtdconnect's webhooks last said of the connection.
	Heard *heard
}

// takeFlash returns the session's one-time message and clears it.
func (p *platform) takeFlash(s *session) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	f := s.flash
	s.flash = ""
	return f
}

func (p *platform) setFlash(s *session, text string) {
	p.mu.Lock()
	s.flash = text
	p.mu.Unlock()
}

func (p *platform) handleHMRC(w http.ResponseWriter, r *http.Request, s *session) {
	page := hmrcPage{Flash: p.takeFlash(s), Status: "Not connected", Heard: p.hooks.last(s.user.Ref)}
	st, err := p.mtd.status(r.Context(), s.user.Ref, "itsa")
	switch {
	case err != nil:
		p.log.Error("read the HMRC connection", "ref", s.user.Ref, "err", err)
		page.Unavailable, page.Status = true, "Unknown"
	case st.Status == "connected":
		page.Status, page.Connected = "Connected", true
	case st.Status == "needs_reconnect":
		page.Status, page.NeedsReconnect, page.Reason = "Needs reconnect", true, st.Reason
	}
	if err == nil && st.ConnectedSince != nil {
		page.Since = st.ConnectedSince.Format("2 January 2006")
	}
	if err == nil && st.AuthorityEndsAt != nil {
		page.Ends = st.AuthorityEndsAt.Format("2 January 2006")
	}
	p.render(w, http.StatusOK, "hmrc", "HMRC Connection", s, page)
}

// handleConnect asks mtdconnect for a connect link and sends the browser
// there; mtdconnect sends it back to /settings/hmrc/return.
func (p *platform) handleConnect(w http.ResponseWriter, r *http.Request, s *session) {
	cs, err := p.mtd.newConnectSession(r.Context(), s.user.Ref, "itsa", p.cfg.PublicURL+"/settings/hmrc/return")
	if err != nil {
		p.log.Error("make a connect session", "ref", s.user.Ref, "err", err)
		p.setFlash(s, "Connecting to HMRC is unavailable just now. Try again in a minute.")
		http.Redirect(w, r, "/settings/hmrc", http.StatusSeeOther)
		return
	}
	p.mu.Lock()
	s.connecting = cs.ID
	p.mu.Unlock()
	http.Redirect(w, r, cs.URL, http.StatusSeeOther)
}

// handleReturn is where mtdconnect sends the landlord back. The query is
// only a hint (anyone can type one): the outcome is read from mtdconnect,
// and must be of the session this browser started, for this landlord.
func (p *platform) handleReturn(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.URL.Query().Get("connect_session")
	p.mu.Lock()
	started := s.connecting
	p.mu.Unlock()
	if id == "" || id != started {
		p.setFlash(s, "Not connected to HMRC: this answer is not for a connection you started here.")
		http.Redirect(w, r, "/settings/hmrc", http.StatusSeeOther)
		return
	}
	cs, err := p.mtd.connectSession(r.Context(), id)
	switch {
	case err != nil:
		p.log.Error("read a connect session", "ref", s.user.Ref, "err", err)
		p.setFlash(s, "We could not check the connection with HMRC just now. Look again in a minute.")
	case cs.User != s.user.Ref:
		p.setFlash(s, "Not connected to HMRC: this answer is not for your account.")
	case cs.Status == "connected":
		p.setFlash(s, "Connected to HMRC. "+p.cfg.Name+" can now send your quarterly updates.")
	case cs.Status == "denied":
		p.setFlash(s, "Not connected to HMRC: you did not give "+p.cfg.Name+" authority at HMRC. Connect again whenever you are ready.")
	case cs.Status == "expired":
		p.setFlash(s, "Not connected to HMRC: the connection took too long and expired. Please try again.")
	default:
		p.setFlash(s, "Not connected to HMRC: connecting did not finish. Please try again.")
	}
	p.mu.Lock()
	s.connecting = ""
	p.mu.Unlock()
	http.Redirect(w, r, "/settings/hmrc", http.StatusSeeOther)
}

func (p *platform) handleDisconnect(w http.ResponseWriter, r *http.Request, s *session) {
	err := p.mtd.disconnect(r.Context(), s.user.Ref, "itsa")
	var ae *apiError
	switch {
	case err == nil:
		p.setFlash(s, "Disconnected from HMRC. To remove "+p.cfg.Name+"'s authority at HMRC too, sign in to your HMRC online account.")
	case errors.As(err, &ae) && ae.Code == "not_connected":
		p.setFlash(s, "You were not connected to HMRC.")
	default:
		p.log.Error("disconnect", "ref", s.user.Ref, "err", err)
		p.setFlash(s, "Disconnecting is unavailable just now. Try again in a minute.")
	}
	http.Redirect(w, r, "/settings/hmrc", http.StatusSeeOther)
}
