package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrc"
	"github.com/mtdconnect/mtdconnect/hmrcsim"
	"github.com/mtdconnect/mtdconnect/web"
)

func runServe(ctx context.Context, args []string, getenv getenvFunc, stdout, stderr io.Writer) error {
	var cfg Config
	fs := newFlagSet("serve", &cfg, getenv, stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	a, err := openApp(ctx, cfg, fs, stderr)
	if err != nil {
		return err
	}
	defer a.Close()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 3)

	var simURL string
	if a.cfg.HMRC == "simulator" {
		ln, err := net.Listen("tcp", a.cfg.SimulatorAddr)
		if err != nil {
			return fmt.Errorf("start the HMRC simulator: %w (set MTDCONNECT_SIMULATOR_ADDR to another address)", err)
		}
		simURL = "http://" + ln.Addr().String()
		sim := newSimulator(a.cfg, a.log.With("component", "hmrcsim"))
		go func() { errc <- serveHTTP(ctx, ln, sim.Handler()) }()
		if err := seedDemo(ctx, a); err != nil {
			return err
		}
	}

	srv, err := web.New(web.Config{
		Store: a.store, HMRC: a.hmrc, Logger: a.log, Now: time.Now,
		PublicURL: a.cfg.PublicURL, ManageAuthorityURL: a.cfg.ManageAuthorityURL(),
		AuthorizeURL: a.cfg.AuthorizeURL,
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", a.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	go func() { errc <- serveHTTP(ctx, ln, srv.Handler()) }()
	refresher := &hmrc.Refresher{Client: a.hmrc}
	go func() { errc <- refresher.Run(ctx) }()

	printBanner(stdout, a, "http://"+ln.Addr().String(), simURL)
	select {
	case <-ctx.Done():
		a.log.Info("shutting down")
		return nil
	case err := <-errc:
		return err
	}
}

// serveHTTP serves h on ln until ctx ends, then shuts down gracefully.
func serveHTTP(ctx context.Context, ln net.Listener, h http.Handler) error {
	s := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Shutdown(sctx)
	}()
	if err := s.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// newSimulator builds the built-in HMRC simulator with the demo application
// (redirect URIs: the web callback and the manual out-of-band one) and the
// demo Government Gateway test user.
func newSimulator(cfg Config, log *slog.Logger) *hmrcsim.Server {
	sim := hmrcsim.New(hmrcsim.Options{Logger: log, RateLimit: cfg.Rate})
	sim.AddApplication(hmrcsim.Application{
		ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret, Name: "mtdconnect (local)",
		RedirectURIs: []string{cfg.RedirectURL(), hmrc.OOBRedirectURI},
	})
	sim.AddTestUser(hmrcsim.TestUser{
		UserID: simUserID, Password: simUserPassword, NINO: simUserNINO, VRN: simUserVRN,
		FullName: "Jo Landlord",
	})
	return sim
}

// seedDemo creates the demo landlord on first start with the simulator.
func seedDemo(ctx context.Context, a *app) error {
	if _, err := a.store.UserByEmail(ctx, demoEmail); err == nil {
		return nil
	} else if !errors.Is(err, mtdconnect.ErrNotFound) {
		return err
	}
	hash, err := web.HashPassword(demoPassword)
	if err != nil {
		return err
	}
	u := &mtdconnect.User{Email: demoEmail, PasswordHash: hash, Admin: true}
	if err := a.store.CreateUser(ctx, u); err != nil && !errors.Is(err, mtdconnect.ErrConflict) {
		return fmt.Errorf("create demo landlord: %w", err)
	}
	return nil
}

func printBanner(w io.Writer, a *app, url, simURL string) {
	fmt.Fprintf(w, "mtdconnect %s is running: %s\n", mtdconnect.Version, url)
	fmt.Fprintf(w, "  database: %s\n", a.cfg.DatabaseURL)
	if a.keysetCreated {
		fmt.Fprintf(w, "  WARNING: generated a local encryption keyset at %s (for local use only)\n", a.cfg.KeysetFile)
	}
	if simURL == "" {
		fmt.Fprintf(w, "  HMRC: %s (%s)\n", a.cfg.HMRC, a.cfg.APIURL)
		return
	}
	fmt.Fprintf(w, "  HMRC: built-in simulator at %s\n\n", simURL)
	fmt.Fprintf(w, "Sign in to mtdconnect as the demo landlord:\n  email:    %s\n  password: %s\n\n", demoEmail, demoPassword)
	fmt.Fprintf(w, "At the simulated HMRC sign-in (Government Gateway), use the test user:\n  user ID:  %s\n  password: %s\n\n", simUserID, simUserPassword)
	fmt.Fprintf(w, "Then open %s/settings/hmrc and click Connect to HMRC.\n", url)
}

func runSimulator(ctx context.Context, args []string, getenv getenvFunc, stdout, stderr io.Writer) error {
	var cfg Config
	fs := newFlagSet("simulator", &cfg, getenv, stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := cfg.resolve(fs); err != nil {
		return err
	}
	log := newLogger(cfg.LogFormat, stderr)
	ln, err := net.Listen("tcp", cfg.SimulatorAddr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	sim := newSimulator(cfg, log)
	fmt.Fprintf(stdout, "HMRC simulator running: http://%s\n  client ID: %s\n  client secret: %s\n  redirect URIs: %s, %s\n  test user: %s / %s (NINO %s, VRN %s)\n",
		ln.Addr(), cfg.ClientID, cfg.ClientSecret, cfg.RedirectURL(), hmrc.OOBRedirectURI, simUserID, simUserPassword, simUserNINO, simUserVRN)
	return serveHTTP(ctx, ln, sim.Handler())
}
